/**
 * The WHERE clause of the list queries (alerts, maintenance log, accidents): filters are optional,
 * so each list builds its clause from the ones given. Values go as parameters, never into the SQL.
 */

/** A condition with one `?` and its value (skipped when the value is undefined), or a fixed condition. */
export type Condition = readonly [sql: string, value: unknown] | string

export function sqlWhere(conditions: readonly Condition[]): { clause: string; args: unknown[] } {
  const where: string[] = []
  const args: unknown[] = []
  for (const condition of conditions) {
    if (typeof condition === 'string') {
      where.push(condition)
      continue
    }
    const [sql, value] = condition
    if (value === undefined) continue
    where.push(sql)
    args.push(value)
  }
  return { clause: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', args }
}
