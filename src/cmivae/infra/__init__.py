"""Infrastructure shared by every room: atomic writes, locking, strict JSON, threads, progress,
device, precision and the user-facing errors. No domain knowledge lives here."""
