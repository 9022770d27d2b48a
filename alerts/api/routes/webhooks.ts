/**
 * Webhook subscriptions and their delivery log (admin only: a subscription sees every tenant's alerts
 * unless scoped, and its secret signs messages).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { AlertSeveritySchema } from '../../../domain/alert-change.ts'
import { DomainError } from '../../../domain/errors.ts'
import { WEBHOOK_FORMATS } from '../../notify/formats.ts'
import { DELIVERY_STATUSES, WebhookInputSchema } from '../../notify/webhook-store.ts'
import type { ApiDeps } from '../app.ts'
import { actorOf, principalOf, requireRole } from '../auth.ts'
import { ERROR_RESPONSES } from '../errors.ts'
import { IdParam } from '../schemas.ts'

const errors = ERROR_RESPONSES

const SubscriptionSchema = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  format: z.enum(WEBHOOK_FORMATS),
  minSeverity: AlertSeveritySchema,
  types: z.array(z.string()).nullable(),
  transitions: z.array(z.string()).nullable(),
  tenantId: z.string().nullable(),
  hasSecret: z.boolean(),
  enabled: z.boolean(),
  createdAt: z.number().int(),
})

const DeliverySchema = z.object({
  id: z.number().int(),
  webhookId: z.string(),
  alertId: z.string(),
  transition: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number().int(),
  createdAt: z.number().int(),
  nextAttemptAt: z.number().int().nullable(),
  lastAttemptAt: z.number().int().nullable(),
  finishedAt: z.number().int().nullable(),
  lastError: z.string().nullable(),
})

const AttemptSchema = z.object({
  attempt: z.number().int(),
  at: z.number().int(),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  durationMs: z.number(),
})

export const webhookRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { webhooks } = deps.notifier

  app.addHook('preHandler', (request, _reply, done) => {
    requireRole(principalOf(request), 'admin')
    done()
  })

  app.get(
    '/webhooks',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Webhook subscriptions (admin); secrets are never returned',
        response: { 200: z.object({ items: z.array(SubscriptionSchema) }), ...errors },
      },
    },
    async () => ({ items: webhooks.listSubscriptions() }),
  )

  app.post(
    '/webhooks',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Subscribe a receiver: generic JSON, WeCom or DingTalk group robot (admin)',
        description:
          'generic: `secret` signs each body, `X-Liftscale-Signature: sha256=hex(HMAC(secret, timestamp + "." + body))` ' +
          'with `X-Liftscale-Timestamp`. dingtalk: `secret` is the robot’s 加签 secret (SEC…); `timestamp` and ' +
          '`sign` are added to the URL of each attempt. wecom: the key is in the URL.',
        body: WebhookInputSchema,
        response: { 201: SubscriptionSchema, ...errors },
      },
    },
    async (request, reply) => reply.code(201).send(webhooks.createSubscription(request.body)),
  )

  app.get(
    '/webhooks/deliveries',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'The delivery log, newest first',
        querystring: z.object({
          webhook: z.string().max(200).optional(),
          alert: z.string().max(200).optional(),
          status: z.enum(DELIVERY_STATUSES).optional(),
          limit: z.coerce.number().int().min(1).max(deps.config.API_MAX_PAGE_SIZE).default(50),
          before: z.coerce.number().int().positive().optional().describe('the last id of the previous page'),
        }),
        response: {
          200: z.object({ items: z.array(DeliverySchema), nextBefore: z.number().int().nullable() }),
          ...errors,
        },
      },
    },
    async (request) => {
      const q = request.query
      const items = webhooks.listDeliveries({
        webhookId: q.webhook,
        alertId: q.alert,
        status: q.status,
        limit: q.limit,
        before: q.before,
      })
      const last = items.at(-1)
      return { items, nextBefore: items.length === q.limit && last ? last.id : null }
    },
  )

  app.get(
    '/webhooks/deliveries/:id',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'One delivery with every attempt: status code, error, duration',
        params: z.object({ id: z.coerce.number().int().positive() }),
        response: { 200: DeliverySchema.extend({ attemptLog: z.array(AttemptSchema) }), ...errors },
      },
    },
    async (request) => {
      const delivery = webhooks.getDelivery(request.params.id)
      if (!delivery) throw new DomainError('NOT_FOUND', `no delivery ${request.params.id}`)
      return delivery
    },
  )

  app.get(
    '/webhooks/:id',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'One subscription',
        params: IdParam,
        response: { 200: SubscriptionSchema, ...errors },
      },
    },
    async (request) => {
      const sub = webhooks.getSubscription(request.params.id)
      if (!sub) throw new DomainError('NOT_FOUND', `no webhook ${request.params.id}`)
      return sub
    },
  )

  app.delete(
    '/webhooks/:id',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Delete a subscription; its pending deliveries are given up, its log is kept',
        params: IdParam,
        response: { 204: z.undefined(), ...errors },
      },
    },
    async (request, reply) => {
      webhooks.deleteSubscription(request.params.id)
      return reply.code(204).send()
    },
  )

  app.post(
    '/webhooks/:id/test',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Queue a test message to this receiver, whatever its filters',
        params: IdParam,
        response: { 202: z.object({ deliveryId: z.number().int() }), ...errors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const deliveryId = webhooks.enqueueTo(
        request.params.id,
        {
          alertId: 'test',
          transition: 'raised',
          type: 'trapped',
          severity: 'info',
          status: 'open',
          deviceId: 'test-device',
          siteId: null,
          tenantId: null,
          siteCategory: null,
          count: 1,
          at: Date.now(),
          actor: actorOf(principal),
        },
        { title: '测试消息 / test message', arriveDeadline: null },
      )
      return reply.code(202).send({ deliveryId })
    },
  )
}
