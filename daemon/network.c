/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "network.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

int network_check_isolated(bool *ret_isolated, char **ret_interfaces)
{
        g_autoptr(GString) names = g_string_new(NULL);
        struct ifaddrs *list = NULL;

        if (getifaddrs(&list) < 0)
                return -errno;
        for (struct ifaddrs *i = list; i; i = i->ifa_next) {
                bool seen;

                if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
                        continue;
                if (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)
                        continue;
                /* One entry per address: name each interface once. */
                seen = false;
                for (const char *p = names->str; p && *p;) {
                        size_t n = strcspn(p, ",");
                        if (n == strlen(i->ifa_name) && strncmp(p, i->ifa_name, n) == 0)
                                seen = true;
                        p += n + (p[n] == ',');
                }
                if (seen)
                        continue;
                if (names->len > 0)
                        g_string_append_c(names, ',');
                g_string_append(names, i->ifa_name);
        }
        freeifaddrs(list);

        *ret_isolated = names->len == 0;
        if (ret_interfaces)
                *ret_interfaces = g_string_free(g_steal_pointer(&names), false);
        return 0;
}
