// The messages at the top of an admin page: an error, the result of the last action,
// and "Loading…" until the first answer (Users, Tokens, WireGuard).
export function PageMessages({
  error,
  result,
  loading,
}: {
  error: string | null | undefined;
  result: string | null | undefined;
  loading: boolean;
}) {
  return (
    <>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {result && (
        <p className="notice ok" role="status">
          {result}
        </p>
      )}
      {loading && !error && <p className="muted">Loading…</p>}
    </>
  );
}
