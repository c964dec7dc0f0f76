"""Stage match: the FAISS similarity index, similar products, competitor equivalents, contact
sheets.
"""
