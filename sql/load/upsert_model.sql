-- Record a model version in `models`; when it is production, it becomes the only one.
-- Parameters: $model_version, $created_at, $arch, $image_size, $val_micro_f1, $thresholds,
--   $is_production, $label_map_fingerprint, $metrics (JSON text). Runs in the caller's transaction.
UPDATE models SET is_production = false WHERE is_production AND $is_production::BOOLEAN;
INSERT INTO models VALUES (
    $model_version, $created_at, $arch, $image_size, $val_micro_f1, $thresholds,
    $is_production, $label_map_fingerprint, $metrics
)
ON CONFLICT (model_version) DO UPDATE SET is_production = excluded.is_production;
