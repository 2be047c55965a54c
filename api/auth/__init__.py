"""Who is calling: accounts, passwords, TOTP MFA, passkeys and server-side sessions."""
