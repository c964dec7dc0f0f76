"""Stage score: images -> probabilities, embeddings and predictions in DuckDB; promotion; ad-hoc
predict.
"""
