"""Media: frames -> MP4 / WebP thumbnail / JPEG spritesheet; decoding of uploads with limits."""
