/** The CLI's version, sent in the node record. */
export const CLI_VERSION = "0.1.0";
