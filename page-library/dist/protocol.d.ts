/** The page bridge's version, this package's major version. */
export declare const BRIDGE_VERSION = 1;
/** The `source` of every message a page sends. */
export declare const PAGE_MESSAGE_SOURCE = "smartcard-selfservice-page";
/** The `source` of every message the extension sends. */
export declare const EXTENSION_MESSAGE_SOURCE = "smartcard-selfservice-extension";
