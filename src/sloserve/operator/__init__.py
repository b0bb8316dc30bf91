"""The kopf application: settings, login, leader election, health endpoint and start-up."""
