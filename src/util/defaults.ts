/** Names and defaults that more than one part of tether uses, each defined here once. */

/** The plugin's type in a network config. */
export const PLUGIN_TYPE = "tether";
/** The built-in IPAM's type, and the name it answers to as a plugin of its own (argv[0] or TETHER_AS). */
export const IPAM_TYPE = "tether-ipam";
/** Where the built-in IPAM keeps its store (host-local's default). */
export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";
/** The bridge of bridge mode when the config names none. */
export const DEFAULT_BRIDGE = "tether0";
