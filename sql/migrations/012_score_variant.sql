-- Migration 012: which runtime variant of a model version produced a row of scores and
-- embeddings (`fashion model optimize`): torch (the version's own weights), onnx (the
-- onnxruntime-optimised fp32 graph) or onnx-int8. NULL: scored before variants existed, by the
-- version's own weights. A variant is not a new version: an image keeps one row per version.
ALTER TABLE scores ADD COLUMN variant VARCHAR;
ALTER TABLE embeddings ADD COLUMN variant VARCHAR;
