//! Notifications per team member: escalations, new guest messages, assignments.
