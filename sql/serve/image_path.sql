-- The stored file of an image, by content hash only (`GET /api/v1/images/{sha256}`).
-- Parameters: $image_sha256
SELECT path FROM images WHERE image_sha256 = $image_sha256::VARCHAR;
