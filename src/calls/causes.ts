/**
 * Q.850 hangup causes: one table for both PBXes. Asterisk reports the code (Cause: 16),
 * FreeSWITCH the name (Hangup-Cause: NORMAL_CLEARING); payloads carry both, canonical.
 * Names follow FreeSWITCH's (which are Q.850's, upper snake case).
 */
const CAUSES: Array<[number, string]> = [
  [0, 'UNSPECIFIED'],
  [1, 'UNALLOCATED_NUMBER'],
  [2, 'NO_ROUTE_TRANSIT_NET'],
  [3, 'NO_ROUTE_DESTINATION'],
  [6, 'CHANNEL_UNACCEPTABLE'],
  [7, 'CALL_AWARDED_DELIVERED'],
  [16, 'NORMAL_CLEARING'],
  [17, 'USER_BUSY'],
  [18, 'NO_USER_RESPONSE'],
  [19, 'NO_ANSWER'],
  [20, 'SUBSCRIBER_ABSENT'],
  [21, 'CALL_REJECTED'],
  [22, 'NUMBER_CHANGED'],
  [23, 'REDIRECTION_TO_NEW_DESTINATION'],
  [25, 'EXCHANGE_ROUTING_ERROR'],
  [26, 'NORMAL_CLEARING_ANSWERED_ELSEWHERE'],
  [27, 'DESTINATION_OUT_OF_ORDER'],
  [28, 'INVALID_NUMBER_FORMAT'],
  [29, 'FACILITY_REJECTED'],
  [30, 'RESPONSE_TO_STATUS_ENQUIRY'],
  [31, 'NORMAL_UNSPECIFIED'],
  [34, 'NORMAL_CIRCUIT_CONGESTION'],
  [38, 'NETWORK_OUT_OF_ORDER'],
  [41, 'NORMAL_TEMPORARY_FAILURE'],
  [42, 'SWITCH_CONGESTION'],
  [44, 'REQUESTED_CHAN_UNAVAIL'],
  [47, 'RESOURCE_UNAVAILABLE'],
  [50, 'FACILITY_NOT_SUBSCRIBED'],
  [57, 'BEARERCAPABILITY_NOTAUTH'],
  [58, 'BEARERCAPABILITY_NOTAVAIL'],
  [65, 'BEARERCAPABILITY_NOTIMPL'],
  [69, 'FACILITY_NOT_IMPLEMENTED'],
  [79, 'SERVICE_NOT_IMPLEMENTED'],
  [81, 'INVALID_CALL_REFERENCE'],
  [88, 'INCOMPATIBLE_DESTINATION'],
  [95, 'INVALID_MSG_UNSPECIFIED'],
  [96, 'MANDATORY_IE_MISSING'],
  [102, 'RECOVERY_ON_TIMER_EXPIRE'],
  [111, 'PROTOCOL_ERROR'],
  [127, 'INTERWORKING'],
  // FreeSWITCH-specific causes outside Q.850's range
  [487, 'ORIGINATOR_CANCEL'],
  [500, 'CRASH'],
  [501, 'SYSTEM_SHUTDOWN'],
  [502, 'LOSE_RACE'],
  [503, 'MANAGER_REQUEST'],
  [600, 'BLIND_TRANSFER'],
  [601, 'ATTENDED_TRANSFER'],
  [602, 'ALLOTTED_TIMEOUT'],
  [603, 'USER_CHALLENGE'],
  [604, 'MEDIA_TIMEOUT'],
  [605, 'PICKED_OFF'],
  [606, 'USER_NOT_REGISTERED'],
  [607, 'PROGRESS_TIMEOUT'],
];

const NAME_BY_CODE = new Map(CAUSES);
const CODE_BY_NAME = new Map(CAUSES.map(([c, n]) => [n, c]));
// FreeSWITCH spells 26 differently from Q.850's text
CODE_BY_NAME.set('ANSWERED_ELSEWHERE', 26);

export function causeName(code: number | null): string | null {
  if (code === null) return null;
  return NAME_BY_CODE.get(code) ?? `CAUSE_${code}`;
}

export function causeCode(name: string | null): number | null {
  if (!name) return null;
  return CODE_BY_NAME.get(name) ?? null;
}

/** Human text as VoIPstudio-style payloads show it: NORMAL_CLEARING -> "Normal Clearing". */
export function causeText(name: string | null): string | null {
  if (!name) return null;
  return name
    .toLowerCase()
    .split('_')
    .map((w) => (w ? w[0].toUpperCase() + w.slice(1) : w))
    .join(' ');
}

/** The SIP final response a Q.850 cause maps to (RFC 3398 §7.2.4.1), for PBXes that report no SIP status. */
export function sipStatusForCause(code: number | null, answered: boolean): number | null {
  if (answered) return 200;
  switch (code) {
    case 1: case 2: case 3: return 404;
    case 17: return 486;
    case 18: return 408;
    case 19: case 20: case 31: return 480;
    case 21: return 603;
    case 22: return 410;
    case 27: return 502;
    case 28: return 484;
    case 29: return 501;
    case 34: case 38: case 41: case 42: case 44: case 47: return 503;
    case 26: case 127: case 487: case 502: return 487;
    default: return null;
  }
}
