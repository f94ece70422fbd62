// hiredis 0.14 (Debian 12's libhiredis-dev). Only the Redis adapter imports this module.
#include <hiredis/hiredis.h>
