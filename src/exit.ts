/** Exit codes (sysexits.h). Every start-up refusal is 69 (http.listen cannot be bound), 73 (the store) or 78 (the config): systemd's RestartPreventExitStatus=69 73 78 keeps them from a restart loop; 70 (a bug) is restarted. */
export const EXIT = { OK: 0, USAGE: 64, UNAVAILABLE: 69, SOFTWARE: 70, CANTCREAT: 73, CONFIG: 78 } as const;
