# SPDX-License-Identifier: MIT
# The installed SDK: the driver ABI and its version macros.
mailferryinclude_HEADERS += core/include/mailferry/driver.h
nodist_mailferryinclude_HEADERS += core/include/mailferry/version.h
EXTRA_DIST += core/include/mailferry/version.h.in
