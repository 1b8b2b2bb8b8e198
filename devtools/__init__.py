"""Local development only: the one-port server, the scheduler loop, and fakes of Discord/Telegram APIs.

Nothing here is deployed (serverless.yml lists only main.py's entrypoints); tests reuse the fakes.
"""
