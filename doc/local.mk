# SPDX-License-Identifier: MIT
# The manual page is installed; the Markdown documents ship in the tarball.
dist_man_MANS += doc/mailferry.1
EXTRA_DIST += doc/config.md doc/architecture.md doc/driver-guide.md
