"""The words of the simulated shop: categories, their subcategories, brands and phrases.

Each category has its own nouns, adjectives, materials and uses, so a product's title and
description carry its category, and search queries built from an item's attributes can be matched
back to it. Only data lives here; ``catalog`` and ``text`` turn it into items, ads and reviews.
"""

from __future__ import annotations

# category -> subcategory -> nouns (an item takes one; a query uses it)
SUBCATEGORIES: dict[str, dict[str, tuple[str, ...]]] = {
    "electronics": {
        "headphones": ("headphones", "earbuds", "headset"),
        "chargers": ("charger", "power bank", "charging cable"),
        "speakers": ("speaker", "soundbar", "smart speaker"),
        "cameras": ("camera", "webcam", "action camera"),
    },
    "fashion": {
        "shoes": ("sneakers", "boots", "loafers"),
        "jackets": ("jacket", "parka", "raincoat"),
        "shirts": ("shirt", "t-shirt", "blouse"),
        "bags": ("backpack", "tote bag", "handbag"),
    },
    "home": {
        "kitchen": ("frying pan", "knife set", "cutting board"),
        "bedding": ("duvet", "pillow", "bed sheet"),
        "lighting": ("lamp", "ceiling light", "lantern"),
        "storage": ("storage box", "shelf", "basket"),
    },
    "beauty": {
        "skincare": ("moisturizer", "serum", "face cream"),
        "haircare": ("shampoo", "conditioner", "hair oil"),
        "makeup": ("lipstick", "mascara", "foundation"),
        "fragrance": ("perfume", "eau de toilette", "body mist"),
    },
    "sports": {
        "fitness": ("yoga mat", "dumbbells", "resistance band"),
        "cycling": ("bike helmet", "bike light", "cycling gloves"),
        "running": ("running shoes", "running shorts", "water bottle"),
        "camping": ("tent", "sleeping bag", "camping stove"),
    },
    "toys": {
        "building": ("building blocks", "construction set", "marble run"),
        "dolls": ("doll", "dollhouse", "plush bear"),
        "games": ("board game", "puzzle", "card game"),
        "outdoor_toys": ("kite", "water gun", "scooter"),
    },
    "books": {
        "fiction": ("novel", "thriller", "short stories"),
        "cookbooks": ("cookbook", "baking book", "recipe collection"),
        "children_books": ("picture book", "bedtime stories", "activity book"),
        "self_help": ("guide", "workbook", "journal"),
    },
    "grocery": {
        "coffee": ("coffee beans", "ground coffee", "espresso pods"),
        "snacks": ("granola bars", "crisps", "trail mix"),
        "tea": ("green tea", "herbal tea", "black tea"),
        "pantry": ("olive oil", "pasta", "rice"),
    },
    "pets": {
        "dog": ("dog food", "dog leash", "chew toy"),
        "cat": ("cat food", "scratching post", "cat litter"),
        "aquarium": ("aquarium filter", "fish food", "aquarium heater"),
        "bird": ("bird seed", "bird cage", "bird feeder"),
    },
    "garden": {
        "tools": ("pruning shears", "garden hose", "rake"),
        "plants": ("seeds", "potted plant", "bulbs"),
        "furniture": ("garden chair", "parasol", "hammock"),
        "watering": ("watering can", "sprinkler", "drip kit"),
    },
}

CATEGORIES: tuple[str, ...] = tuple(SUBCATEGORIES)

BRANDS: dict[str, tuple[str, ...]] = {
    "electronics": ("Voltra", "Sonique", "Pixelon", "Amperic", "Zentrix", "Kairo"),
    "fashion": ("Mavelle", "Northwind", "Corvo", "Lunetta", "Brixton Row", "Saffi"),
    "home": ("Hearthly", "Casabel", "Nordhem", "Lumo", "Tidyfold", "Oakwell"),
    "beauty": ("Glowe", "Velour", "Purelle", "Aurae", "Bloomia", "Silka"),
    "sports": ("Stridex", "Peakform", "Trailborn", "Velocita", "Ironleaf", "Aerofit"),
    "toys": ("Playnest", "Tinkerly", "Bricko", "Wonderbox", "Jollytot", "Kidora"),
    "books": ("Inkwell Press", "Pagecraft", "Quillhouse", "Bramble Books", "Lantern Lit", "Foliant"),
    "grocery": ("Harvesta", "Beanworks", "Olivio", "Crunchly", "Teavana Fields", "Pantrio"),
    "pets": ("Pawsome", "Whiskerly", "Fetchwell", "Aquanova", "Featherly", "Purrfect Co"),
    "garden": ("Greenthumb", "Bloomfield", "Terragro", "Sprinklo", "Verdant", "Hedgerow"),
}

ADJECTIVES: dict[str, tuple[str, ...]] = {
    "electronics": ("wireless", "portable", "noise cancelling", "fast", "compact", "smart"),
    "fashion": ("slim fit", "waterproof", "classic", "oversized", "leather", "linen"),
    "home": ("non-stick", "cosy", "minimalist", "stackable", "ceramic", "dimmable"),
    "beauty": ("hydrating", "vegan", "long lasting", "fragrance-free", "organic", "matte"),
    "sports": ("lightweight", "breathable", "durable", "foldable", "reflective", "padded"),
    "toys": ("educational", "colourful", "wooden", "magnetic", "glow-in-the-dark", "giant"),
    "books": ("bestselling", "illustrated", "hardcover", "award-winning", "pocket", "annotated"),
    "grocery": ("organic", "fair trade", "gluten-free", "roasted", "wholegrain", "spicy"),
    "pets": ("grain-free", "chewproof", "adjustable", "natural", "quiet", "self-cleaning"),
    "garden": ("heavy duty", "weatherproof", "ergonomic", "solar", "rust-proof", "perennial"),
}

COLOURS = ("black", "white", "grey", "navy", "red", "green", "blue", "beige", "pink", "yellow")

VARIANTS = ("", "", "", " Pro", " Mini", " Max", " Plus", " 2-Pack", " XL", " Lite")

USES: dict[str, tuple[str, ...]] = {
    "electronics": ("music on the go", "video calls", "travel", "gaming", "the home office"),
    "fashion": ("everyday wear", "rainy days", "the office", "weekend trips", "evenings out"),
    "home": ("small kitchens", "guest rooms", "family dinners", "tidy living rooms", "cosy nights"),
    "beauty": ("dry skin", "daily routines", "sensitive skin", "special occasions", "curly hair"),
    "sports": ("morning runs", "home workouts", "mountain trails", "commuting", "weekend camping"),
    "toys": ("toddlers", "family game night", "creative play", "birthday gifts", "rainy afternoons"),
    "books": ("long train rides", "curious readers", "home cooks", "bedtime reading", "gifting"),
    "grocery": ("busy mornings", "healthy snacking", "home baristas", "quick dinners", "picnics"),
    "pets": ("playful puppies", "indoor cats", "senior dogs", "tropical tanks", "garden birds"),
    "garden": ("small balconies", "vegetable beds", "summer evenings", "dry spells", "hedges"),
}

MATERIALS: dict[str, tuple[str, ...]] = {
    "electronics": ("aluminium", "recycled plastic", "braided nylon", "matte polymer"),
    "fashion": ("organic cotton", "merino wool", "vegan leather", "recycled polyester"),
    "home": ("stoneware", "bamboo", "stainless steel", "cotton percale"),
    "beauty": ("shea butter", "hyaluronic acid", "argan oil", "vitamin C"),
    "sports": ("ripstop nylon", "neoprene", "carbon fibre", "mesh fabric"),
    "toys": ("beech wood", "BPA-free plastic", "soft plush", "recycled cardboard"),
    "books": ("thick matte paper", "a cloth binding", "full-colour pages", "a sturdy cover"),
    "grocery": ("arabica beans", "rolled oats", "cold-pressed olives", "whole leaves"),
    "pets": ("natural rubber", "salmon and rice", "sisal rope", "sunflower hearts"),
    "garden": ("galvanised steel", "recycled resin", "hardwood", "UV-stable plastic"),
}

FEATURES: dict[str, tuple[str, ...]] = {
    "electronics": ("with a 30-hour battery", "with USB-C charging", "with Bluetooth 5.3"),
    "fashion": ("with a relaxed cut", "with reinforced seams", "in a timeless style"),
    "home": ("easy to clean", "dishwasher safe", "with a space-saving design"),
    "beauty": ("dermatologically tested", "with a light texture", "free of parabens"),
    "sports": ("with a secure grip", "built for long sessions", "packs down small"),
    "toys": ("for ages 3 and up", "with 120 pieces", "encourages problem solving"),
    "books": ("with 300 pages", "with step-by-step photos", "loved by book clubs"),
    "grocery": ("in a resealable bag", "with no added sugar", "freshly packed"),
    "pets": ("vet approved", "with no artificial colours", "easy to assemble"),
    "garden": ("with a 5-year guarantee", "ready in minutes", "needs no tools"),
}

AD_HOOKS = ("Now on sale:", "New:", "Treat yourself:", "Bestseller:", "Limited stock:", "Try")

COUNTRIES = ("GB", "DE", "FR", "NL", "ES", "IT", "SE", "PL")
COUNTRY_WEIGHTS = (0.32, 0.18, 0.14, 0.08, 0.09, 0.09, 0.05, 0.05)
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_WEIGHTS = (0.58, 0.32, 0.10)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_WEIGHTS = (0.14, 0.27, 0.23, 0.17, 0.11, 0.08)
PUSH_CAMPAIGNS = ("new_arrivals", "weekend_deals", "back_in_stock", "we_miss_you")
PROMOTION_CAMPAIGNS = ("spring_sale", "loyalty_coupon", "flash_coupon")

# --- reviews as shoppers write them: aspect sentences, each with its own sentiment ----------------
# A review mentions one to three aspects; each aspect's sentence is drawn from its polarity's list
# ({noun} is the product's noun). Negations ("not bad", "isn't worth it") are part of the lists.
ASPECTS = ("quality", "size", "delivery", "price", "service")
POLARITIES = ("negative", "neutral", "positive")
ASPECT_SENTENCES: dict[str, dict[str, tuple[str, ...]]] = {
    "quality": {
        "negative": ("The {noun} broke within a week.", "It feels cheap and flimsy.",
                     "The {noun} stopped working after a few days.", "Not well made at all.",
                     "The stitching came apart on day two.", "The finish isn't what I'd call quality."),
        "neutral": ("The build is okay, nothing more.", "Quality is about what you would expect.",
                    "The {noun} does the job.", "It works, but it won't win prizes."),
        "positive": ("The {noun} feels really solid.", "Superb build quality.",
                     "Well made and it still looks new.", "Not bad at all, sturdy and reliable.",
                     "Great quality for the money.", "The {noun} exceeded my expectations."),
    },
    "size": {
        "negative": ("It runs two sizes small.", "Far too big, nothing like the listing.",
                     "The dimensions are wrong.", "It doesn't fit where I wanted it."),
        "neutral": ("Size is as described.", "A little bigger than I thought, but fine.",
                    "The fit is average."),
        "positive": ("Fits perfectly.", "The size is just right.", "Compact and fits anywhere.",
                     "Not too big, not too small."),
    },
    "delivery": {
        "negative": ("Delivery took three weeks.", "It arrived damaged.", "The parcel was left in the rain.",
                     "Shipping was painfully slow.", "It didn't arrive on the promised day."),
        "neutral": ("Delivery was on time.", "It arrived in standard packaging.", "Shipping took the usual few days."),
        "positive": ("Arrived the next day.", "Super fast delivery.", "Packed with care and arrived early.",
                     "Delivery couldn't have been quicker."),
    },
    "price": {
        "negative": ("Way overpriced.", "Not worth the money.", "Too expensive for what you get.",
                     "I wouldn't pay this much again."),
        "neutral": ("The price is fair enough.", "Priced like the others.", "Not cheap, not expensive."),
        "positive": ("A bargain.", "Great value for money.", "Cheaper than anywhere else.",
                     "Worth every penny."),
    },
    "service": {
        "negative": ("Customer service never replied.", "The seller ignored my complaint.",
                     "Returns were a nightmare.", "Support wasn't helpful at all."),
        "neutral": ("I didn't need to contact support.", "The seller answered eventually."),
        "positive": ("The seller was very helpful.", "Customer service sorted it out in minutes.",
                     "Lovely, friendly support.", "Returns were easy."),
    },
}
# Overall openings by star rating; a review opens with one about half the time.
REVIEW_OPENINGS: dict[int, tuple[str, ...]] = {
    1: ("Terrible.", "Very disappointed.", "Do not buy this.", "Avoid."),
    2: ("Not great.", "Below expectations.", "Rather disappointing.", "Wouldn't recommend."),
    3: ("It is okay.", "Average overall.", "Mixed feelings.", "Not bad, not great."),
    4: ("Really good.", "Happy with it.", "Pretty pleased.", "Not bad at all."),
    5: ("Absolutely love it!", "Excellent!", "Perfect, exactly as described.", "Couldn't be happier."),
}
# Sarcasm: praise on the surface, said by an unhappy buyer (a small share of 1-2 star reviews).
SARCASTIC_OPENINGS = ("Oh great, just what I needed.", "Five stars for falling apart so fast.",
                      "Wonderful, another refund to chase.", "Brilliant, if you like waiting.",
                      "Love paying for things that don't work.")
# Other words for a product noun, used in some titles; a title may also leave the noun out.
NOUN_SYNONYMS: dict[str, str] = {
    "headphones": "cans", "earbuds": "in-ears", "headset": "gaming audio", "charger": "power adapter",
    "power bank": "portable battery", "charging cable": "USB lead", "speaker": "sound box",
    "soundbar": "TV audio bar", "smart speaker": "voice assistant", "action camera": "sports cam", "camera": "camcorder", "webcam": "streaming cam",
    "sneakers": "trainers", "boots": "booties", "loafers": "slip-ons", "jacket": "coat", "parka": "winter coat",
    "raincoat": "mac", "shirt": "button-down", "t-shirt": "tee", "blouse": "top", "backpack": "rucksack",
    "tote bag": "shopper", "handbag": "purse", "frying pan": "skillet", "knife set": "cutlery block",
    "cutting board": "chopping board", "duvet": "comforter", "pillow": "cushion", "bed sheet": "fitted sheet",
    "lamp": "light", "ceiling light": "pendant", "lantern": "hurricane light", "storage box": "crate",
    "shelf": "rack", "basket": "hamper", "moisturizer": "hydrator", "serum": "booster", "face cream": "day cream",
    "shampoo": "hair wash", "conditioner": "detangler", "hair oil": "hair elixir", "lipstick": "lip colour",
    "mascara": "lash definer", "foundation": "base", "perfume": "scent", "eau de toilette": "fragrance spray",
    "body mist": "body spray", "yoga mat": "exercise mat", "dumbbells": "hand weights",
    "resistance band": "stretch band", "bike helmet": "cycle lid", "bike light": "cycle lamp",
    "cycling gloves": "mitts", "running shoes": "runners", "running shorts": "jogging shorts",
    "water bottle": "flask", "tent": "shelter", "sleeping bag": "bedroll", "camping stove": "burner",
    "building blocks": "bricks", "construction set": "builder kit", "marble run": "ball track",
    "doll": "figure", "dollhouse": "play house", "plush bear": "teddy", "board game": "family game",
    "puzzle": "jigsaw", "card game": "deck game", "kite": "flyer", "water gun": "squirter", "scooter": "kick board",
    "novel": "story", "thriller": "page-turner", "short stories": "anthology", "cookbook": "recipe book",
    "baking book": "bakes", "recipe collection": "kitchen bible", "picture book": "illustrated story",
    "bedtime stories": "tales", "activity book": "sticker book", "guide": "handbook", "workbook": "exercises",
    "journal": "notebook", "coffee beans": "whole beans", "ground coffee": "filter coffee",
    "espresso pods": "capsules", "granola bars": "oat bars", "crisps": "chips", "trail mix": "nut mix",
    "green tea": "sencha", "herbal tea": "infusion", "black tea": "breakfast tea", "olive oil": "EVOO",
    "pasta": "spaghetti", "rice": "basmati", "dog food": "kibble", "dog leash": "lead", "chew toy": "chewer",
    "cat food": "cat meals", "scratching post": "scratcher", "cat litter": "litter", "aquarium filter": "tank filter",
    "fish food": "flakes", "aquarium heater": "tank heater", "bird seed": "seed mix", "bird cage": "aviary",
    "bird feeder": "feeding station", "pruning shears": "secateurs", "garden hose": "hosepipe", "rake": "leaf rake",
    "seeds": "seed packet", "potted plant": "houseplant", "bulbs": "tubers", "garden chair": "patio chair",
    "parasol": "sunshade", "hammock": "swing bed", "watering can": "can", "sprinkler": "lawn sprayer",
    "drip kit": "irrigation set",
}
