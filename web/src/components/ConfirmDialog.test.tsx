import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfirmDialog } from "./ConfirmDialog";

afterEach(cleanup);

function setup(onConfirm: () => Promise<void> | void = vi.fn()) {
  const onCancel = vi.fn();
  render(
    <ConfirmDialog open title="Clear the cache?" confirmLabel="Clear cache" onConfirm={onConfirm} onCancel={onCancel}>
      <p>This deletes every file under /data/cache (3 KiB).</p>
    </ConfirmDialog>,
  );
  return { onCancel };
}

describe("ConfirmDialog", () => {
  it("names what will be lost and focuses Cancel", () => {
    setup();
    const dialog = screen.getByRole("alertdialog", { name: "Clear the cache?" });
    expect(dialog.textContent).toContain("/data/cache");
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Cancel" }));
  });

  it("cancels with the button and with Escape, without acting", () => {
    const onConfirm = vi.fn();
    const { onCancel } = setup(onConfirm);
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    fireEvent.keyDown(window, { key: "Escape" });
    expect(onCancel).toHaveBeenCalledTimes(2);
    expect(onConfirm).not.toHaveBeenCalled();
  });

  it("runs the action and shows its error without closing", async () => {
    const onConfirm = vi.fn(async () => {
      throw new Error("cache folder is read-only");
    });
    setup(onConfirm);
    fireEvent.click(screen.getByRole("button", { name: "Clear cache" }));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("cache folder is read-only"));
    expect(onConfirm).toHaveBeenCalledTimes(1);
    expect((screen.getByRole("button", { name: "Clear cache" }) as HTMLButtonElement).disabled).toBe(false);
  });

  it("renders nothing when closed", () => {
    const { container } = render(
      <ConfirmDialog open={false} title="t" confirmLabel="x" onConfirm={vi.fn()} onCancel={vi.fn()}>
        body
      </ConfirmDialog>,
    );
    expect(container.innerHTML).toBe("");
  });
});
