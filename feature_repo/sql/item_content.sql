-- item_content: what an item is, one row stamped at its launch (the view never expires).
SELECT item_id, launch_ts AS event_timestamp, base_price, category, subcategory, brand FROM items
