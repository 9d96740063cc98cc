import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/**
 * A modal question (the browser's <dialog>: focus stays inside, Escape cancels). `onConfirm` gets
 * the form's data; the dialog stays open while it runs and shows what went wrong if it throws.
 */
export function ConfirmDialog(props: {
  title: string;
  confirmLabel: string;
  danger?: boolean;
  open: boolean;
  error?: string | null;
  busy?: boolean;
  onConfirm: (form: FormData) => void;
  onCancel: () => void;
  children?: ComponentChildren;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (props.open && !element.open) element.showModal();
    if (!props.open && element.open) element.close();
  }, [props.open]);
  const titleId = `dialog-${props.title.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <dialog ref={dialog} aria-labelledby={titleId} onCancel={(event) => (event.preventDefault(), props.onCancel())}>
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          props.onConfirm(new FormData(event.currentTarget));
        }}
      >
        <h2 id={titleId}>{props.title}</h2>
        {props.children}
        {props.error && (
          <p class="error-note" role="alert">
            {props.error}
          </p>
        )}
        <div class="actions">
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" class={props.danger ? 'danger' : 'primary'} disabled={props.busy}>
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
