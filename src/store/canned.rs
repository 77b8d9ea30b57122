//! Canned responses: saved replies with an optional shortcut.
