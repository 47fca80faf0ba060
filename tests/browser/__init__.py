"""Real-browser tests: JupyterLab and Voila driven by Debian's Chromium through Playwright."""
