//! Console sessions: tokens from `POST /api/v1/auth/login`, stored hashed, with an expiry.
