// SPDX-License-Identifier: GPL-2.0
/*
 * The module's version (modinfo's "version" field). XPN_VERSION comes from
 * PACKAGE_VERSION in dkms.conf, the project's one version source (Kbuild).
 */
#include <linux/module.h>

MODULE_VERSION(XPN_VERSION);
