"""Azure plumbing shared by the ARM backend, Key Vault references and the probes: sign-in, clouds, errors."""
