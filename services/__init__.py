"""BentoML services over the trained models, the Feast online store and the FAISS item index.
They never import ``training``: what they share with it lives in the core package ``shopml``."""
