/** What a view may ask of the app around it. */
export interface ViewContext {
  /** The API answered 401: the session is over; back to sign-in. */
  sessionEnded(): void;
}
