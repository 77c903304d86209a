"""portal/: the Debug Portal (quart-trio) on its own listener under /debug/obs.

Rules: the portal reads; it never scans the dump tree (the request index answers), never shows a
secret, and answers only Host names that point at this machine (DNS-rebinding guard) unless a
public URL is configured.
"""
