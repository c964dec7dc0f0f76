-- Append the colour readings of a chunk of images from the registered Arrow tables
-- batch_colors (image_colors rows) and batch_color_status (color_measurements rows), made by
-- fashion_model.score.images.color_tables; an image a method version measured before keeps
-- its first reading. Parameters: none. Runs inside the caller's transaction.
INSERT INTO image_colors
SELECT c.image_sha256, c.rank, c.hex, c.l, c.a, c.b, c.share, c.name, c.family, c.method_version
FROM batch_colors AS c
WHERE NOT EXISTS (SELECT 1 FROM color_measurements AS m
                  WHERE m.image_sha256 = c.image_sha256 AND m.method_version = c.method_version)
ON CONFLICT DO NOTHING;
INSERT INTO color_measurements
SELECT image_sha256, method_version, colors, reason, now() FROM batch_color_status
ON CONFLICT DO NOTHING;
