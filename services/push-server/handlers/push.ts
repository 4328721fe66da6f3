/**
 * 0x070f IMPushToUserReq from a msg server: one notification per listed
 * token, each queued for the webhook; the 0x0710 reply says per token whether
 * it was accepted (0) or refused (1: not a phone, or an unusable token). As
 * the original, 0 means "taken", not "delivered": delivery is retried and
 * dead-lettered in the background.
 */
import { randomUUID } from 'node:crypto';
import { IM } from '../../../pdu/commands';
import type { PduConnection } from '../../../pdu/connection';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { PushServerConfig } from '../config';
import type { WebhookDelivery } from '../webhook-delivery';

const { ClientType } = IM.BaseDefine;

export function registerPushHandlers(d: Dispatcher<PduConnection>, config: PushServerConfig, delivery: WebhookDelivery): void {
  d.on(IM.Server.IMPushToUserReq, (req, pdu, link) => {
    const data = parseData(req.data);
    const results = req.user_token_list.map((t) => {
      const type = t.user_type === ClientType.CLIENT_TYPE_IOS ? 'ios' : t.user_type === ClientType.CLIENT_TYPE_ANDROID ? 'android' : null;
      const usable = type !== null && t.token !== '' && t.token.length <= config.maxTokenLength && !/[\s\x00-\x1f]/.test(t.token);
      if (usable) {
        delivery.submit({
          id: randomUUID(),
          user_id: t.user_id,
          client_type: type,
          token: t.token,
          title: config.notificationTitle,
          body: req.flash,
          unread_count: t.push_count,
          push_type: t.push_type === 2 ? 'silent' : 'alert',
          data,
          created_at: new Date().toISOString(),
        });
      }
      return { user_token: t.token, result_code: usable ? 0 : 1 };
    });
    link.reply(pdu, IM.Server.IMPushToUserRsp, { push_result_list: results });
  });
}

/** The msg server's data is JSON text (from_id, msg_type, group_id); anything else is passed on as text. */
function parseData(text: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { text };
}
