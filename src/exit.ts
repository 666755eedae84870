/** Exit codes (sysexits.h): systemd's RestartPreventExitStatus=73 78 keeps a bad config or store from crash-looping. */
export const EXIT = { OK: 0, USAGE: 64, UNAVAILABLE: 69, SOFTWARE: 70, CANTCREAT: 73, CONFIG: 78 } as const;
