"""Approvals: single, any-of, all-of and sequential sign-offs with e-signatures."""
