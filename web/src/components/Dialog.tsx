// A modal for forms (add a peer, change a password …). ConfirmDialog is for yes/no; this
// one holds any content. Escape or a click on the backdrop closes it unless it is busy.
import { useEffect, useId, useRef, type ReactNode } from "react";

export interface DialogProps {
  title: string;
  children: ReactNode;
  onClose: () => void;
  /** While true, Escape and the backdrop do not close it (a request is in flight). */
  busy?: boolean;
  wide?: boolean;
}

export function Dialog({ title, children, onClose, busy = false, wide = false }: DialogProps) {
  const titleId = useId();
  const ref = useRef<HTMLDivElement>(null);
  const busyRef = useRef(busy);
  busyRef.current = busy;
  const closeRef = useRef(onClose);
  closeRef.current = onClose;

  useEffect(() => {
    // Focus the first field (or button) once, when it opens.
    ref.current?.querySelector<HTMLElement>("input, select, textarea, button")?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !busyRef.current) closeRef.current();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && !busy && onClose()}>
      <div ref={ref} className={`modal${wide ? " modal-wide" : ""}`} role="dialog" aria-modal="true" aria-labelledby={titleId}>
        <h2 id={titleId}>{title}</h2>
        {children}
      </div>
    </div>
  );
}
