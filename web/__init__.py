"""The web pages' templates and static files, installed with the code as the package ``qa.web``."""
