/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aid: the on-device AI service. Parses the command line and the configuration, then hands
 * over to the daemon object. Exit status: 0 on SIGTERM/SIGINT, 1 on a failure at start or a
 * lost bus, 2 on a bad command line. */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "aid-conf.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "mapping-fault.h"

#define EXIT_BAD_ARGUMENTS 2

static enum aid_bus_mode arg_bus_mode = AID_BUS_USER;
static const char *arg_address;
static const char *arg_config;

static void help(void)
{
        printf("Usage: aid [OPTIONS...]\n"
               "\n"
               "On-device AI service: serves local models to applications over D-Bus as %s.\n"
               "\n"
               "  --user                 Serve on the session bus (default)\n"
               "  --system               Serve on the system bus\n"
               "  --bus-address=ADDRESS  Serve on the bus at ADDRESS (user-mode defaults)\n"
               "  --config=PATH          Read only this configuration file\n"
               "  --log-level=LEVEL      debug, info, notice, warning or err (default: info)\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n",
                        "org.aid.Daemon1");
}

static int parse_argv(int argc, char *argv[])
{
        enum {
                ARG_USER = 0x100,
                ARG_SYSTEM,
                ARG_BUS_ADDRESS,
                ARG_CONFIG,
                ARG_LOG_LEVEL,
                ARG_VERSION,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "user", no_argument, NULL, ARG_USER },
                { "system", no_argument, NULL, ARG_SYSTEM },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {},
        };
        int c, level;

        /* getopt prints its own message for unknown options; we add the hint. */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("aid %s\n", AID_VERSION);
                        return 0;
                /* The last of --user, --system and --bus-address wins. */
                case ARG_USER:
                        arg_bus_mode = AID_BUS_USER;
                        break;
                case ARG_SYSTEM:
                        arg_bus_mode = AID_BUS_SYSTEM;
                        break;
                case ARG_BUS_ADDRESS:
                        if (optarg[0] == '\0') {
                                log_error("--bus-address= needs an address, e.g. unix:path=/run/bus");
                                return -EINVAL;
                        }
                        arg_bus_mode = AID_BUS_ADDRESS;
                        arg_address = optarg;
                        break;
                case ARG_CONFIG:
                        if (optarg[0] == '\0') {
                                log_error("--config= needs a file name");
                                return -EINVAL;
                        }
                        arg_config = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        level = log_level_from_string(optarg);
                        if (level < 0) {
                                log_error("Unknown log level '%s' (use debug, info, notice, warning or err)",
                                                optarg);
                                return -EINVAL;
                        }
                        log_set_max_level(level);
                        break;
                case '?':
                        log_error("Try 'aid --help'.");
                        return -EINVAL;
                default:
                        return -EINVAL;
                }

        if (optind < argc) {
                log_error("aid takes no positional arguments ('%s'); try 'aid --help'.", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[])
{
        _cleanup_(daemon_freep) struct daemon *d = NULL;
        struct aid_error err = {};
        struct aid_conf conf;
        int r;

        log_open();
        r = mapping_fault_handler_install();
        if (r < 0)
                log_warning_errno(r, "Failed to install the SIGBUS handler, continuing without: %m");

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_BAD_ARGUMENTS : EXIT_SUCCESS;

        r = aid_conf_load(arg_bus_mode, arg_config, &conf, &err);
        if (r < 0) {
                log_error("Invalid configuration: %s", err.message);
                return EXIT_FAILURE;
        }
        for (size_t i = 0; conf.warnings && conf.warnings[i]; i++)
                log_warning("%s", conf.warnings[i]);

        r = daemon_new(arg_bus_mode, arg_address, &conf, &d);
        aid_conf_clear(&conf);
        if (r < 0)
                return EXIT_FAILURE;

        r = daemon_run(d);
        return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
