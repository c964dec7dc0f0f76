"""Scale-out without Prefect: shard jobs (Parquet in, Parquet part out) for the download and score
stages.
"""
