import { Link } from "../router";

export function NotFound() {
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>
        There is no page at <code>{window.location.pathname}</code>. <Link to="/">Go to the overview</Link>.
      </p>
    </section>
  );
}
