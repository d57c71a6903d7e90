"""Authentication: API tokens now; users, passwords and JWT later."""
