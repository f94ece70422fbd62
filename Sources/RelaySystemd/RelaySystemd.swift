// systemd integration: notify, watchdog, socket activation, journald.
