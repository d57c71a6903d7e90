import { useEffect, useState } from "react";

/** Copy `text` to the clipboard; says "Copied" for two seconds, or why it could not. */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [state, setState] = useState<"" | "copied" | "failed">("");
  useEffect(() => {
    if (!state) return;
    const t = setTimeout(() => setState(""), 2000);
    return () => clearTimeout(t);
  }, [state]);
  const copy = async () => {
    try {
      // Not available on plain http except localhost: the text stays selectable.
      await navigator.clipboard.writeText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
  };
  return (
    <button type="button" onClick={copy} aria-live="polite">
      {state === "copied" ? "Copied ✓" : state === "failed" ? "Select and copy it" : label}
    </button>
  );
}
