-- Migration 008: embeddings of any width. Each model version embeds at its own width (512 for
-- ResNet34, 2048 for ResNet50, the label count for an ONNX model whose pooled features are not
-- exposed); the column becomes a list, and the 512-d rows already stored stay as they are.
-- Compare embeddings of one model version only (the search SQL filters by model_version).
ALTER TABLE embeddings ALTER embedding TYPE FLOAT[];
