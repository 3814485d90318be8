"""Scene plans (what to render), their seeded sampler, camera conventions and SH lighting."""
