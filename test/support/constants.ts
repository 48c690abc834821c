/** Test-only secrets: fixed so failures reproduce; never used outside the suite. */
export const TEST_PEPPER = "test-pepper-0123456789abcdef0123456789abcdef";
