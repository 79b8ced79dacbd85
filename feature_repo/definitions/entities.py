"""The entities every feature hangs off: customers, catalogue items, ad creatives, and the categories,
brands and price bands a customer's taste is counted over."""

from feast import Entity, ValueType

from . import names

user = Entity(name="user", join_keys=[names.USER_ID], value_type=ValueType.INT64,
              description="A customer of the shop")
item = Entity(name="item", join_keys=[names.ITEM_ID], value_type=ValueType.INT64,
              description="A catalogue item")
ad = Entity(name="ad", join_keys=[names.AD_ID], value_type=ValueType.INT64,
            description="An ad creative promoting one item")
category = Entity(name="category", join_keys=[names.CATEGORY], value_type=ValueType.STRING,
                   description="A top-level catalogue category")
brand = Entity(name="brand", join_keys=[names.BRAND], value_type=ValueType.STRING,
               description="A brand of the catalogue")
price_band = Entity(name="price_band", join_keys=[names.PRICE_BAND], value_type=ValueType.STRING,
                    description="budget, mid or premium: an item's price that day against its peers' median")
