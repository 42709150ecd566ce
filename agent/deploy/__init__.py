"""Deployment: load real compiled artifacts (npm packages and our forge build) and deploy them."""
