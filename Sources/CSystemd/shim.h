// libsystemd 252 (Debian 12's libsystemd-dev). Only the systemd adapter imports this module.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
